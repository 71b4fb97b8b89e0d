package postgres

import "strings"

// PostgreSQL's text cannot hold the character U+0000, which JSON carries
// ("\u0000") and the API accepts, and which the SQLite store keeps. The
// store therefore escapes it in the free texts people write (titles,
// bodies, opinions, explanations, display names, external ids) with the
// noncharacter U+FFFF, which Unicode reserves for a program's internal use:
//
//	U+0000 -> U+FFFF '0'
//	U+FFFF -> U+FFFF U+FFFF
//
// Every other text is stored as it is, so the rows read naturally in SQL.
// Identifiers and enumerations are not escaped: the API admits neither
// character in them.
const textEscape = "\uFFFF"

var (
	textEncoder = strings.NewReplacer("\x00", textEscape+"0", textEscape, textEscape+textEscape)
	textDecoder = strings.NewReplacer(textEscape+"0", "\x00", textEscape+textEscape, textEscape)
)

// encodeText escapes s for a text column.
func encodeText(s string) string {
	if !strings.ContainsAny(s, "\x00"+textEscape) {
		return s
	}
	return textEncoder.Replace(s)
}

// decodeText reverses encodeText.
func decodeText(s string) string {
	if !strings.Contains(s, textEscape) {
		return s
	}
	return textDecoder.Replace(s)
}

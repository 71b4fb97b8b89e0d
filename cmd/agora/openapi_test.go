package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// specValidator checks the suite's responses against http/openapi.yaml,
// the document served at /openapi.yaml (OpenAPI 3.1), so that the spec and
// the server cannot drift apart.
var specValidator = sync.OnceValues(func() (validator.Validator, error) {
	spec, err := os.ReadFile("../../http/openapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, err := libopenapi.NewDocument(spec)
	if err != nil {
		return nil, err
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return v, nil
})

// validateResponse reports where a response departs from the spec.
func validateResponse(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	// Answers of the router itself to a path or method the API does not
	// have (404 "No route", 405), and CORS preflights, belong to no
	// operation of the spec.
	if status == http.StatusMethodNotAllowed || req.Method == http.MethodOptions || (status == http.StatusNotFound && bytes.Contains(body, []byte(`"detail":"No route for`))) {
		return
	}
	v, err := specValidator()
	if err != nil {
		tb.Fatalf("load openapi.yaml: %v", err)
	}
	res := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	if ok, errs := v.ValidateHttpResponse(req, res); !ok {
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Message+": "+e.Reason)
		}
		tb.Errorf("%s %s -> %d departs from openapi.yaml: %s", req.Method, req.URL.Path, status, strings.Join(msgs, "; "))
	}
}

#include "textflag.h"

// The products on pairs of kernels.go. Registers: AX rowPtr, BX col, CX val,
// DX the vector read by column (or by row for the scatter), DI the vector
// written, SI the row i, R8 hi, R9 the entry p, R10 the row's end, R11 an offset.
// A pair is 16 bytes; MOVUPD moves one (no alignment needed), UNPCKLPD copies a
// value into both lanes, MULPD and ADDPD round each lane as MULSD and ADDSD do.

// func scatterPairsAsm(rowPtr, col *int32, val *float64, x, z *[2]float64, lo, hi int)
TEXT ·scatterPairsAsm(SB), NOSPLIT, $0-56
	MOVQ rowPtr+0(FP), AX
	MOVQ col+8(FP), BX
	MOVQ val+16(FP), CX
	MOVQ x+24(FP), DX
	MOVQ z+32(FP), DI
	MOVQ lo+40(FP), SI
	MOVQ hi+48(FP), R8
	MOVLQSX (AX)(SI*4), R9

srow:
	MOVLQSX 4(AX)(SI*4), R10
	MOVQ SI, R11
	SHLQ $4, R11
	MOVUPD (DX)(R11*1), X0 // x[i]
	CMPQ R9, R10
	JGE snext

sentry:
	MOVL (BX)(R9*4), R11
	MOVSD (CX)(R9*8), X1
	UNPCKLPD X1, X1
	MULPD X0, X1 // v·x[i]
	SHLQ $4, R11
	MOVUPD (DI)(R11*1), X2
	ADDPD X1, X2 // z[col] + v·x[i]
	MOVUPD X2, (DI)(R11*1)
	INCQ R9
	CMPQ R9, R10
	JLT sentry

snext:
	MOVQ R10, R9
	INCQ SI
	CMPQ SI, R8
	JLT srow
	RET

// func gatherPairsAsm(rowPtr, col *int32, val *float64, z, y *[2]float64, lo, hi int)
TEXT ·gatherPairsAsm(SB), NOSPLIT, $0-56
	MOVQ rowPtr+0(FP), AX
	MOVQ col+8(FP), BX
	MOVQ val+16(FP), CX
	MOVQ z+24(FP), DX
	MOVQ y+32(FP), DI
	MOVQ lo+40(FP), SI
	MOVQ hi+48(FP), R8
	MOVLQSX (AX)(SI*4), R9

grow:
	MOVLQSX 4(AX)(SI*4), R10
	XORPD X0, X0 // the sums start at +0, as Go's do
	CMPQ R9, R10
	JGE gstore

gentry:
	MOVL (BX)(R9*4), R11
	MOVSD (CX)(R9*8), X1
	UNPCKLPD X1, X1
	SHLQ $4, R11
	MOVUPD (DX)(R11*1), X2
	MULPD X1, X2 // v·z[col]
	ADDPD X2, X0 // s + v·z[col]
	INCQ R9
	CMPQ R9, R10
	JLT gentry

gstore:
	MOVQ SI, R11
	SHLQ $4, R11
	MOVUPD X0, (DI)(R11*1)
	MOVQ R10, R9
	INCQ SI
	CMPQ SI, R8
	JLT grow
	RET

// func gramPairsAsm(rowPtr, col *int32, val *float64, x, y *[2]float64, lo, hi int)
TEXT ·gramPairsAsm(SB), NOSPLIT, $0-56
	MOVQ rowPtr+0(FP), AX
	MOVQ col+8(FP), BX
	MOVQ val+16(FP), CX
	MOVQ x+24(FP), DX
	MOVQ y+32(FP), DI
	MOVQ lo+40(FP), SI
	MOVQ hi+48(FP), R8
	MOVLQSX (AX)(SI*4), R9

mrow:
	MOVLQSX 4(AX)(SI*4), R10
	XORPD X0, X0
	MOVQ R9, R12 // the row's first entry, for the second pass
	CMPQ R9, R10
	JGE mnext

mgather:
	MOVL (BX)(R9*4), R11
	MOVSD (CX)(R9*8), X1
	UNPCKLPD X1, X1
	SHLQ $4, R11
	MOVUPD (DX)(R11*1), X2
	MULPD X1, X2 // v·x[col]
	ADDPD X2, X0 // t + v·x[col]
	INCQ R9
	CMPQ R9, R10
	JLT mgather
	MOVQ R12, R9

mscatter:
	MOVL (BX)(R9*4), R11
	MOVSD (CX)(R9*8), X1
	UNPCKLPD X1, X1
	MULPD X0, X1 // v·t
	SHLQ $4, R11
	MOVUPD (DI)(R11*1), X2
	ADDPD X1, X2 // y[col] + v·t
	MOVUPD X2, (DI)(R11*1)
	INCQ R9
	CMPQ R9, R10
	JLT mscatter

mnext:
	MOVQ R10, R9
	INCQ SI
	CMPQ SI, R8
	JLT mrow
	RET

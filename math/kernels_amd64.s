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

// ROWDOT sets X0 to the product of the row's entries R9..R10 with the pairs at
// DX (rowDotGo): the even entries summed in X0, the odd ones in X3, both from +0
// as Go's sums are, then added. It leaves R9 at R10 and uses R11, R12, X1-X5.
// Each function expands it once, so its labels are the function's own.
#define ROWDOT \
	XORPD X0, X0 \
	XORPD X3, X3 \
	LEAQ 1(R9), R12 \
	CMPQ R12, R10 \
	JGE rdtail \
rdpair: \
	MOVL (BX)(R9*4), R11 \
	MOVSD (CX)(R9*8), X1 \
	UNPCKLPD X1, X1 \
	SHLQ $4, R11 \
	MOVUPD (DX)(R11*1), X2 \
	MULPD X1, X2 \
	ADDPD X2, X0 \
	MOVL 4(BX)(R9*4), R11 \
	MOVSD 8(CX)(R9*8), X4 \
	UNPCKLPD X4, X4 \
	SHLQ $4, R11 \
	MOVUPD (DX)(R11*1), X5 \
	MULPD X4, X5 \
	ADDPD X5, X3 \
	ADDQ $2, R9 \
	LEAQ 1(R9), R12 \
	CMPQ R12, R10 \
	JLT rdpair \
rdtail: \
	CMPQ R9, R10 \
	JGE rdsum \
	MOVL (BX)(R9*4), R11 \
	MOVSD (CX)(R9*8), X1 \
	UNPCKLPD X1, X1 \
	SHLQ $4, R11 \
	MOVUPD (DX)(R11*1), X2 \
	MULPD X1, X2 \
	ADDPD X2, X0 \
	INCQ R9 \
rdsum: \
	ADDPD X3, X0

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
	ROWDOT // y[i] = c_i · z
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
	MOVQ R9, R13 // the row's first entry, for the second pass
	ROWDOT       // t = c_i · x
	MOVQ R13, R9
	CMPQ R9, R10
	JGE mnext

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

// The dense loops of the Gram-Schmidt passes, two entries (i, i+1) per SSE2
// operation: lane 0 holds what the Go loops compute for the even entries, lane
// 1 for the odd ones, each in the same order. n counts pairs of entries.

// func dot2Pairs(v, a, b *float64, n int, out *[4]float64)
TEXT ·dot2Pairs(SB), NOSPLIT, $0-40
	MOVQ v+0(FP), SI
	MOVQ a+8(FP), AX
	MOVQ b+16(FP), BX
	MOVQ n+24(FP), CX
	MOVQ out+32(FP), DI
	XORPD X0, X0 // v·a: even, odd
	XORPD X1, X1 // v·b
	XORQ DX, DX
	TESTQ CX, CX
	JLE ddone

dloop:
	MOVUPD (SI)(DX*1), X2
	MOVUPD (AX)(DX*1), X3
	MOVUPD (BX)(DX*1), X4
	MULPD X2, X3
	MULPD X2, X4
	ADDPD X3, X0
	ADDPD X4, X1
	ADDQ $16, DX
	DECQ CX
	JNZ dloop

ddone:
	MOVUPD X0, (DI)
	MOVUPD X1, 16(DI)
	RET

// func axpy2Pairs(a, b *float64, ca, cb float64, v *float64, n int)
TEXT ·axpy2Pairs(SB), NOSPLIT, $0-48
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), BX
	MOVSD ca+16(FP), X0
	UNPCKLPD X0, X0
	MOVSD cb+24(FP), X1
	UNPCKLPD X1, X1
	MOVQ v+32(FP), SI
	MOVQ n+40(FP), CX
	XORQ DX, DX
	TESTQ CX, CX
	JLE adone

aloop:
	MOVUPD (SI)(DX*1), X2
	MOVAPD X2, X3
	MULPD X0, X2 // ca·v
	MULPD X1, X3 // cb·v
	MOVUPD (AX)(DX*1), X4
	MOVUPD (BX)(DX*1), X5
	ADDPD X2, X4
	ADDPD X3, X5
	MOVUPD X4, (AX)(DX*1)
	MOVUPD X5, (BX)(DX*1)
	ADDQ $16, DX
	DECQ CX
	JNZ aloop

adone:
	RET

// func axpy2x4Pairs(a, b *float64, c *[8]float64, v0, v1, v2, v3 *float64, n int)
// c holds the coefficients (a's and b's for v0, then for v1, v2, v3).
TEXT ·axpy2x4Pairs(SB), NOSPLIT, $0-64
	MOVQ a+0(FP), AX
	MOVQ b+8(FP), BX
	MOVQ c+16(FP), DI
	MOVQ v0+24(FP), R8
	MOVQ v1+32(FP), R9
	MOVQ v2+40(FP), R10
	MOVQ v3+48(FP), R11
	MOVQ n+56(FP), CX
	MOVSD 0(DI), X8
	UNPCKLPD X8, X8
	MOVSD 8(DI), X9
	UNPCKLPD X9, X9
	MOVSD 16(DI), X10
	UNPCKLPD X10, X10
	MOVSD 24(DI), X11
	UNPCKLPD X11, X11
	MOVSD 32(DI), X12
	UNPCKLPD X12, X12
	MOVSD 40(DI), X13
	UNPCKLPD X13, X13
	MOVSD 48(DI), X14
	UNPCKLPD X14, X14
	MOVSD 56(DI), X15
	UNPCKLPD X15, X15
	XORQ DX, DX
	TESTQ CX, CX
	JLE xdone

xloop:
	MOVUPD (AX)(DX*1), X0 // s
	MOVUPD (BX)(DX*1), X1 // t
	MOVUPD (R8)(DX*1), X2
	MOVAPD X2, X3
	MULPD X8, X2
	MULPD X9, X3
	ADDPD X2, X0
	ADDPD X3, X1
	MOVUPD (R9)(DX*1), X2
	MOVAPD X2, X3
	MULPD X10, X2
	MULPD X11, X3
	ADDPD X2, X0
	ADDPD X3, X1
	MOVUPD (R10)(DX*1), X2
	MOVAPD X2, X3
	MULPD X12, X2
	MULPD X13, X3
	ADDPD X2, X0
	ADDPD X3, X1
	MOVUPD (R11)(DX*1), X2
	MOVAPD X2, X3
	MULPD X14, X2
	MULPD X15, X3
	ADDPD X2, X0
	ADDPD X3, X1
	MOVUPD X0, (AX)(DX*1)
	MOVUPD X1, (BX)(DX*1)
	ADDQ $16, DX
	DECQ CX
	JNZ xloop

xdone:
	RET

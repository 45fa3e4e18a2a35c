package builtin

// RFC 864: 72 printable characters a line, the 95-character ring
// ' '..'~' shifted by one each line, each line ended by "\r\n".
const (
	ringSize    = 95 // printable ASCII, 0x20..0x7e
	lineChars   = 72
	chargenLine = lineChars + 2 // with "\r\n"
	// chargenCycle is the length of the pattern before it repeats.
	chargenCycle = ringSize * chargenLine
)

// appendChargenLine appends line i (0-based) of the pattern.
func appendChargenLine(b []byte, i int) []byte {
	start := i % ringSize
	for k := 0; k < lineChars; k++ {
		b = append(b, byte(' '+(start+k)%ringSize))
	}
	return append(b, '\r', '\n')
}

// chargenPattern returns one whole cycle of the pattern (95 lines);
// a stream repeats it.
func chargenPattern() []byte {
	b := make([]byte, 0, chargenCycle)
	for i := 0; i < ringSize; i++ {
		b = appendChargenLine(b, i)
	}
	return b
}

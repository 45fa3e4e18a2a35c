package builtin

import (
	"encoding/binary"
	"time"
)

// Names of the builtins, as the `builtin` attribute spells them.
const (
	Echo    = "echo"
	Discard = "discard"
	Daytime = "daytime"
	Time    = "time"
	Chargen = "chargen"
)

// Valid reports whether name is a builtin: echo, discard, daytime, time or chargen.
func Valid(name string) bool {
	switch name {
	case Echo, Discard, Daytime, Time, Chargen:
		return true
	}
	return false
}

// DaytimeLayout is the RFC 867 answer's format (as ctime(3)), sent with "\r\n".
const DaytimeLayout = "Mon Jan _2 15:04:05 2006"

// rfc868Offset is the number of seconds from 1900-01-01 to 1970-01-01 UTC.
const rfc868Offset = 2208988800

// appendDaytime appends the daytime answer for now in loc (nil: time.Local).
func appendDaytime(b []byte, now time.Time, loc *time.Location) []byte {
	if loc == nil {
		loc = time.Local
	}
	b = now.In(loc).AppendFormat(b, DaytimeLayout)
	return append(b, '\r', '\n')
}

// RFC868 returns now as the time protocol counts it: seconds since
// 1900-01-01 00:00 UTC, modulo 2^32.
func RFC868(now time.Time) uint32 {
	return uint32(uint64(now.Unix() + rfc868Offset))
}

// appendTime appends the 4-byte big-endian RFC 868 value of now.
func appendTime(b []byte, now time.Time) []byte {
	return binary.BigEndian.AppendUint32(b, RFC868(now))
}

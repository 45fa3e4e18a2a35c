package acl

import (
	"fmt"
	"time"
)

// Window is a daily time window in local time, in minutes since midnight
// (0..1439). Both ends are inclusive to the minute: {480, 1110}
// ("08:00-18:30") admits from 08:00:00 through 18:30:59. A Start after End
// wraps midnight: {1320, 360} ("22:00-06:00") admits from 22:00 to 06:00:59.
type Window struct{ Start, End int }

// ParseWindow parses "HH:MM-HH:MM" (two digits each, 00:00 to 23:59).
// Equal ends are an error; a whole day is "00:00-23:59".
func ParseWindow(s string) (Window, error) {
	if len(s) != len("HH:MM-HH:MM") || s[5] != '-' {
		return Window{}, fmt.Errorf("parse time window %q: want HH:MM-HH:MM", s)
	}
	start, ok1 := parseClock(s[:5])
	end, ok2 := parseClock(s[6:])
	if !ok1 || !ok2 {
		return Window{}, fmt.Errorf("parse time window %q: want HH:MM-HH:MM with hours 00-23 and minutes 00-59", s)
	}
	if start == end {
		return Window{}, fmt.Errorf("parse time window %q: start equals end (for the whole day write 00:00-23:59)", s)
	}
	return Window{Start: start, End: end}, nil
}

// parseClock parses "HH:MM" into minutes since midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range [...]int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// Contains reports whether t's wall-clock minute, in t's own location,
// falls inside w.
func (w Window) Contains(t time.Time) bool {
	h, m, _ := t.Clock()
	return w.containsMinute(h*60 + m)
}

func (w Window) containsMinute(m int) bool {
	if w.Start <= w.End {
		return w.Start <= m && m <= w.End
	}
	return m >= w.Start || m <= w.End
}

// String returns w as ParseWindow reads it.
func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

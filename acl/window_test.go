package acl

import (
	"strings"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	good := []struct {
		name, in string
		want     Window
	}{
		{"day", "08:00-18:30", Window{480, 1110}},
		{"wraps midnight", "22:00-06:00", Window{1320, 360}},
		{"whole day", "00:00-23:59", Window{0, 1439}},
		{"one minute short of whole day, wrapped", "23:59-23:58", Window{1439, 1438}},
		{"two minutes", "12:00-12:01", Window{720, 721}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWindow(tc.in)
			if err != nil {
				t.Fatalf("ParseWindow(%q) error %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseWindow(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if got.String() != tc.in {
				t.Errorf("ParseWindow(%q).String() = %q, want the input", tc.in, got.String())
			}
		})
	}
	bad := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "want HH:MM-HH:MM"},
		{"equal ends", "08:00-08:00", "start equals end"},
		{"hour 24", "24:00-01:00", "hours 00-23"},
		{"minute 60", "08:60-09:00", "minutes 00-59"},
		{"one digit hour", "8:00-18:00", "want HH:MM-HH:MM"},
		{"seconds", "08:00:00-18:00:00", "want HH:MM-HH:MM"},
		{"spaces", "08:00 - 18:00", "want HH:MM-HH:MM"},
		{"missing end", "08:00-", "want HH:MM-HH:MM"},
		{"wrong separator", "08:00~18:00", "want HH:MM-HH:MM"},
		{"dot", "08.00-18.00", "want HH:MM-HH:MM"},
		{"sign", "+8:00-18:00", "want HH:MM-HH:MM"},
		{"letters", "ab:cd-ef:gh", "want HH:MM-HH:MM"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWindow(tc.in)
			if err == nil {
				t.Fatalf("ParseWindow(%q) = %+v, want error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseWindow(%q) error %q, want it to name the input and contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestWindowContains(t *testing.T) {
	at := func(hh, mm, ss int) time.Time {
		return time.Date(2024, 3, 5, hh, mm, ss, 999_999_999, time.UTC)
	}
	day := Window{8 * 60, 18*60 + 30}
	night := Window{22 * 60, 6 * 60}
	tests := []struct {
		name string
		w    Window
		t    time.Time
		want bool
	}{
		{"day: before start", day, at(7, 59, 59), false},
		{"day: start minute", day, at(8, 0, 0), true},
		{"day: middle", day, at(12, 0, 0), true},
		{"day: last second of end minute", day, at(18, 30, 59), true},
		{"day: minute after end", day, at(18, 31, 0), false},
		{"day: midnight", day, at(0, 0, 0), false},
		{"night: before start", night, at(21, 59, 59), false},
		{"night: start", night, at(22, 0, 0), true},
		{"night: before midnight", night, at(23, 59, 59), true},
		{"night: midnight", night, at(0, 0, 0), true},
		{"night: end minute", night, at(6, 0, 59), true},
		{"night: after end", night, at(6, 1, 0), false},
		{"night: noon", night, at(12, 0, 0), false},
		{"whole day: midnight", Window{0, 1439}, at(0, 0, 0), true},
		{"whole day: last minute", Window{0, 1439}, at(23, 59, 59), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.Contains(tc.t); got != tc.want {
				t.Errorf("%v.Contains(%s) = %v, want %v", tc.w, tc.t.Format("15:04:05"), got, tc.want)
			}
		})
	}
}

func TestWindowContainsUsesLocation(t *testing.T) {
	loc := time.FixedZone("UTC+5", 5*3600)
	w := Window{9 * 60, 17 * 60} // 09:00-17:00 local
	// 04:30 UTC is 09:30 at UTC+5.
	utc := time.Date(2024, 3, 5, 4, 30, 0, 0, time.UTC)
	if w.Contains(utc) {
		t.Errorf("%v.Contains(04:30 UTC) = true, want false", w)
	}
	if !w.Contains(utc.In(loc)) {
		t.Errorf("%v.Contains(09:30 UTC+5) = false, want true", w)
	}
}

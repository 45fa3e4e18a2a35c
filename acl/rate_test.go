package acl

import (
	"strings"
	"testing"
	"time"
)

func TestParseRate(t *testing.T) {
	good := []struct {
		name, in string
		want     Rate
	}{
		{"per second", "50/s", Rate{50, time.Second}},
		{"per minute", "5/m", Rate{5, time.Minute}},
		{"one", "1/s", Rate{1, time.Second}},
		{"leading zero", "07/m", Rate{7, time.Minute}},
		{"max", "1000000000/s", Rate{1_000_000_000, time.Second}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if err != nil {
				t.Fatalf("ParseRate(%q) error %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseRate(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	bad := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "want N/s or N/m"},
		{"no unit", "50", "want N/s or N/m"},
		{"zero", "0/s", "from 1 to"},
		{"negative", "-1/s", "from 1 to"},
		{"plus", "+1/s", "from 1 to"},
		{"too big", "1000000001/s", "from 1 to"},
		{"overflow", "99999999999999999999/s", "from 1 to"},
		{"hours", "5/h", `unit "h"`},
		{"long unit", "5/sec", `unit "sec"`},
		{"empty unit", "5/", `unit ""`},
		{"no count", "/s", "from 1 to"},
		{"spaces", "5 / s", `unit " s"`},
		{"space before", " 5/s", "from 1 to"},
		{"fraction", "1.5/s", "from 1 to"},
		{"two slashes", "5/s/s", `unit "s/s"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRate(tc.in)
			if err == nil {
				t.Fatalf("ParseRate(%q) = %+v, want error", tc.in, got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"`+tc.in+`"`) {
				t.Errorf("ParseRate(%q) error %q, want it to name the input and contain %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		r    Rate
		want string
	}{
		{Rate{}, "off"},
		{Rate{N: 5}, "off"},
		{Rate{50, time.Second}, "50/s"},
		{Rate{5, time.Minute}, "5/m"},
		{Rate{5, time.Hour}, "5/1h0m0s"},
	}
	for _, tc := range tests {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
}

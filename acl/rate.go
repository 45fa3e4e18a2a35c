package acl

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// maxRateN bounds N in a Rate, far above any useful connection rate.
const maxRateN = 1_000_000_000

// Rate is a token bucket: N tokens, refilled evenly over Per (a bucket of
// "50/s" holds 50 tokens and gains one every 20 ms). The zero Rate, or any
// with N or Per not positive, is off.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate parses "N/s" or "N/m", N a decimal integer from 1 to 10⁹.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("parse rate %q: want N/s or N/m", s)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	default:
		return Rate{}, fmt.Errorf("parse rate %q: unit %q, want s or m", s, unit)
	}
	if num == "" || len(num) > 10 {
		return Rate{}, fmt.Errorf("parse rate %q: want a count from 1 to %d before the /", s, maxRateN)
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return Rate{}, fmt.Errorf("parse rate %q: want a count from 1 to %d before the /", s, maxRateN)
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > maxRateN {
		return Rate{}, fmt.Errorf("parse rate %q: want a count from 1 to %d before the /", s, maxRateN)
	}
	return Rate{N: n, Per: per}, nil
}

// On reports whether r limits anything.
func (r Rate) On() bool { return r.N > 0 && r.Per > 0 }

// String returns r as ParseRate reads it ("50/s", "5/m"), "off" for a rate
// that is off, and N/duration for a Per that is neither a second nor a
// minute.
func (r Rate) String() string {
	switch {
	case !r.On():
		return "off"
	case r.Per == time.Second:
		return strconv.Itoa(r.N) + "/s"
	case r.Per == time.Minute:
		return strconv.Itoa(r.N) + "/m"
	default:
		return strconv.Itoa(r.N) + "/" + r.Per.String()
	}
}

// normalize returns the zero Rate for any Rate that is off, so that two
// rates that are both off compare equal.
func (r Rate) normalize() Rate {
	if !r.On() {
		return Rate{}
	}
	return r
}

// newLimiter returns a full bucket for r, which must be On.
func (r Rate) newLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(float64(r.N)/r.Per.Seconds()), r.N)
}

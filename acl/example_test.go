package acl_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/superd-dev/superd/acl"
)

func Example() {
	allow, err := acl.ParsePrefix("10.0.0.0/8")
	if err != nil {
		fmt.Println(err)
		return
	}
	deny, _ := acl.ParsePrefix("10.9.0.0/16")
	rate, _ := acl.ParseRate("2/s")
	g := acl.NewGate(acl.Policy{
		Allow:     []netip.Prefix{allow},
		Deny:      []netip.Prefix{deny},
		Rate:      rate,
		Instances: 1,
	}, func() float64 { return 0 }) // a fixed load average; nil reads sysinfo(2)

	now := time.Now()
	for _, client := range []string{"10.1.2.3", "10.9.0.1", "192.0.2.1", "10.1.2.4"} {
		t, reason, ok := g.Admit(netip.MustParseAddr(client), now)
		if !ok {
			fmt.Println(client, "refused:", reason)
			continue
		}
		fmt.Println(client, "admitted; running:", g.Active())
		defer t.Release() // when the handler is reaped
	}
	// Output:
	// 10.1.2.3 admitted; running: 1
	// 10.9.0.1 refused: acl
	// 192.0.2.1 refused: acl
	// 10.1.2.4 refused: instances
}

func ExampleParseWindow() {
	w, err := acl.ParseWindow("22:00-06:00")
	if err != nil {
		fmt.Println(err)
		return
	}
	night := time.Date(2024, 3, 5, 2, 30, 0, 0, time.UTC)
	noon := time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)
	fmt.Println(w.Contains(night), w.Contains(noon))
	_, err = acl.ParseWindow("08:00-08:00")
	fmt.Println(err)
	// Output:
	// true false
	// parse time window "08:00-08:00": start equals end (for the whole day write 00:00-23:59)
}

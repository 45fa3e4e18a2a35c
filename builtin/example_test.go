package builtin_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/superd-dev/superd/builtin"
)

func ExampleReply() {
	src := netip.MustParseAddrPort("192.0.2.7:40000")
	now := time.Date(2024, 3, 5, 7, 8, 9, 0, time.UTC)
	buf := make([]byte, 0, 512)
	if builtin.AllowedSource(src) {
		fmt.Printf("%q\n", builtin.Reply("daytime", nil, now, time.UTC, buf))
		fmt.Printf("%x\n", builtin.Reply("time", nil, now, time.UTC, buf))
	}
	fmt.Println(builtin.AllowedSource(netip.MustParseAddrPort("192.0.2.7:19")))
	// Output:
	// "Tue Mar  5 07:08:09 2024\r\n"
	// e9914359
	// false
}

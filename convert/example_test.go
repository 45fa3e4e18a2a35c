package convert_test

import (
	"fmt"
	"os"

	"github.com/superd-dev/superd/convert"
)

func ExampleInetd() {
	conf := []byte("finger stream tcp nowait nobody /usr/sbin/tcpd in.fingerd\n" +
		"echo dgram udp wait root internal\n")
	res := convert.Inetd(convert.Source{Name: "/etc/inetd.conf", Data: conf},
		convert.Options{Services: convert.ParseServices([]byte("finger 79/tcp\necho 7/udp\n"))})
	os.Stdout.Write(res.HCL)
	fmt.Println("complete:", res.Complete)
	// Output:
	// # superd services converted from inetd configuration: /etc/inetd.conf
	//
	// # /etc/inetd.conf:1
	// service "finger" {
	//   protocol = "tcp"
	//   listen   = ["0.0.0.0:79"]
	//   mode     = "nowait"
	//   command  = ["/usr/sbin/tcpd"]
	//   argv0    = "in.fingerd"
	//   user     = "nobody"
	// }
	//
	// # /etc/inetd.conf:2
	// service "echo" {
	//   protocol = "udp"
	//   listen   = ["0.0.0.0:7"]
	//   builtin  = "echo"
	// }
	// complete: true
}

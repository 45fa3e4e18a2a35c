package listener_test

import (
	"errors"
	"fmt"
	"net"

	"github.com/superd-dev/superd/listener"
	"golang.org/x/sys/unix"
)

func Example() {
	a, err := listener.ParseAddr("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := listener.Bind(a, listener.Options{NoDelay: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	client, err := net.Dial("tcp", s.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	c, err := s.Accept()
	if errors.Is(err, net.ErrClosed) || listener.IsTemporary(err) {
		return // stop, or back off and retry
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer unix.Close(c.FD) // blocking and close-on-exec: ready for a handler
	fmt.Println(c.Remote.Addr(), c.Local.Addr())
	// Output: 127.0.0.1 127.0.0.1
}

func ExampleWatcher() {
	w, err := listener.NewWatcher()
	if err != nil {
		fmt.Println(err)
		return
	}
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run() }()

	a, err := listener.ParseAddr("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := listener.Bind(a, listener.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A quiet socket: no goroutine waits for it, the watcher does.
	_, err = s.AcceptOrIdle()
	fmt.Println(err)
	ready := make(chan struct{})
	if err := s.WatchOnce(w, func() { close(ready) }); err != nil {
		fmt.Println(err)
		return
	}
	client, err := net.Dial("tcp", s.LocalAddr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	<-ready
	c, err := s.AcceptOrIdle()
	if err != nil {
		fmt.Println(err)
		return
	}
	unix.Close(c.FD)
	fmt.Println("accepted", c.Remote.Addr())

	s.Close() // first the sockets, then the watcher
	w.Close()
	fmt.Println(<-stopped)
	// Output:
	// no connection waiting
	// accepted 127.0.0.1
	// <nil>
}

func ExampleParseAddr() {
	for _, s := range []string{":79", "127.0.0.1:79", "[::1]:79", "localhost:79"} {
		a, err := listener.ParseAddr("tcp", s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s dual-stack=%v\n", a, a.DualStack)
	}
	// Output:
	// :79 dual-stack=true
	// 127.0.0.1:79 dual-stack=false
	// [::1]:79 dual-stack=false
	// parse tcp address "localhost:79": host "localhost" is not an IP address (superd never resolves names)
}

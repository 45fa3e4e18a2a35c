// Package listener owns superd's sockets: it parses `listen` addresses,
// binds TCP, UDP and Unix-domain sockets with their options, accepts
// connections and receives datagrams on the hot path, and wraps sockets
// handed over by systemd (LISTEN_FDS).
//
// Every socket is created with unix.Socket (non-blocking, close-on-exec)
// and wrapped with os.NewFile, so the Go runtime poller watches it. A
// listening socket is made blocking, with a short receive timeout, by its
// first Accept: acceptors block in accept4(2) itself while the socket is
// busy, and wait in the poller (or on a Watcher) once it is quiet (see
// hot_linux.go). accept4 is called with SOCK_CLOEXEC but without
// SOCK_NONBLOCK, so the descriptor it returns is already blocking and can
// be handed to a handler without a dup. Nothing here resolves a host
// name: addresses are numeric only.
//
// After Close, Accept, RecvFrom, PeekFrom, Discard and WaitReadable
// return an error for which errors.Is(err, net.ErrClosed) holds (and,
// for convenience, errors.Is(err, os.ErrClosed) too).
//
// Typical use, a TCP nowait service:
//
//	a, err := listener.ParseAddr("tcp", "127.0.0.1:7")
//	if err != nil {
//		return err
//	}
//	s, err := listener.Bind(a, listener.Options{NoDelay: true})
//	if err != nil {
//		return err
//	}
//	defer s.Close()
//	for {
//		c, err := s.Accept()
//		if errors.Is(err, net.ErrClosed) {
//			return nil
//		}
//		if listener.IsTemporary(err) {
//			// back off 5ms doubling to 1s, then retry
//			continue
//		}
//		if err != nil {
//			return err
//		}
//		// c.FD is blocking and close-on-exec: pass it to the handler,
//		// then close it.
//		unix.Close(c.FD)
//	}
//
// A socket that is quiet most of the time need not keep a goroutine
// parked in Accept: AcceptOrIdle returns ErrIdle instead of waiting once
// the socket has gone quiet, and WatchOnce arms the socket on a Watcher
// (one epoll instance and one goroutine for any number of sockets), which
// calls back once a connection is waiting:
//
//	w, err := listener.NewWatcher()
//	if err != nil {
//		return err
//	}
//	go w.Run()      // until w.Close
//	defer w.Close() // after the sockets are closed
//	var serve func()
//	serve = func() {
//		for {
//			c, err := s.AcceptOrIdle()
//			if errors.Is(err, listener.ErrIdle) {
//				// Called back on w's goroutine: start a new one.
//				s.WatchOnce(w, func() { go serve() })
//				return
//			}
//			// ... as above
//		}
//	}
//	serve()
//
// A UDP nowait service reads one datagram with RecvFrom and answers it
// from a socket made by DialReply(d.Local, d.Remote), which is bound to the
// address the client reached and connected to the client. A builtin
// answers with s.Reply(d.Local, d.Remote, out) instead, from the
// listening socket itself.
package listener

package main

import (
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// notifier speaks sd_notify(3) to systemd when NOTIFY_SOCKET is set.
type notifier struct {
	log *slog.Logger
	on  bool // NOTIFY_SOCKET is set
}

func newNotifier(log *slog.Logger) *notifier {
	_, on := os.LookupEnv("NOTIFY_SOCKET")
	return &notifier{log: log, on: on}
}

// sendStatus sends state followed by status(), which is only called when
// there is someone to tell (it costs a walk over every service).
func (n *notifier) sendStatus(state string, status func() string) {
	if n.on {
		n.send(state + status())
	}
}

func (n *notifier) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("sd_notify", "error", err)
	}
}

// reloading sends RELOADING=1 with the CLOCK_MONOTONIC time, as
// Type=notify-reload services do.
func (n *notifier) reloading() {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		n.send("RELOADING=1")
		return
	}
	usec := ts.Sec*1e6 + ts.Nsec/1e3
	n.send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(usec, 10))
}

// startWatchdog sends WATCHDOG=1 (and a fresh STATUS=) every half
// WATCHDOG_USEC, if systemd asked for it; the returned func stops it.
func (n *notifier) startWatchdog(status func() string) (stop func()) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n.send("WATCHDOG=1\n" + status())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

package spawner

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// checkGroup checks that the probe r led a new process group, in the
// test's session (or, through ForkExec while the test has a controlling
// terminal, a session of its own), without a controlling terminal.
func checkGroup(t *testing.T, r report, s *Spawner, p path) {
	t.Helper()
	pid := strconv.Itoa(r.pid)
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	wantSid := strconv.Itoa(sid)
	if s.tty >= 0 && (p != pathClone || s.clone == nil) {
		wantSid = pid
	}
	if r.stat[2] != pid || r.stat[3] != wantSid { // pgrp, session
		t.Errorf("pgrp, session = %s, %s, want %s, %s", r.stat[2], r.stat[3], pid, wantSid)
	}
	if r.stat[4] != "0" {
		t.Errorf("tty_nr = %s, want 0 (no controlling terminal)", r.stat[4])
	}
}

// TestControllingTerminal runs the probe on every path from a copy of the
// test binary that leads a session with a pseudo-terminal as its
// controlling terminal: no handler may keep that terminal.
func TestControllingTerminal(t *testing.T) {
	if os.Getenv("SPAWNER_TEST_CTTY") == "1" {
		s, _ := newTestSpawner(t)
		if s.tty < 0 {
			t.Fatal("the Spawner sees no controlling terminal")
		}
		probeEach(t, s, func(t *testing.T, r report, p path) { checkGroup(t, r, s, p) })
		return
	}
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	defer slave.Close()
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestControllingTerminal$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "SPAWNER_TEST_CTTY=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Run(); err != nil {
		t.Fatalf("with a controlling terminal: %v\n%s", err, out.Bytes())
	}
	if !bytes.Contains(out.Bytes(), []byte("--- PASS: TestControllingTerminal/clone")) {
		t.Errorf("the clone path did not run:\n%s", out.Bytes())
	}
}

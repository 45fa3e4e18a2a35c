// Command handler is the program superd starts in the integration tests
// (package test). It reports what it was given (fds, credentials, env,
// limits, process state) as JSON, or plays a misbehaving handler.
//
//	handler report OUTFD           write a JSON report to OUTFD, exit
//	handler report-stdin OUTFD     read fd 0 to EOF first, include it in the report
//	handler wait-accept LFD [report]   accept one connection on LFD, write "hello PID\n" (or the report), exit
//	handler wait-udp LFD [report]      receive one datagram on LFD, reply "hello PID" (or the report), exit
//	handler udp-twice OUTFD        reply "first:"+stdin, then echo one datagram read on OUTFD as "second:"+data
//	handler sleep OUTFD SECS       write "started PID\n" to OUTFD, sleep
//	handler ignore-term OUTFD SECS like sleep, with SIGTERM ignored
//
// It uses raw system calls only, so the Go runtime opens no descriptors
// behind its back before the report is taken; the go:debug lines stop the
// runtime from keeping cgroup files open (Go 1.25 container GOMAXPROCS).

//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FD describes one open descriptor.
type FD struct {
	FD         int    `json:"fd"`
	Target     string `json:"target"`
	NonBlock   bool   `json:"nonblock"`
	IsSocket   bool   `json:"is_socket"`
	SockType   int    `json:"sock_type,omitempty"`
	SockDomain int    `json:"sock_domain,omitempty"`
	Listening  bool   `json:"listening,omitempty"`
	Local      string `json:"local,omitempty"`
	Peer       string `json:"peer,omitempty"`
}

// Report is what the handler saw at start.
type Report struct {
	Args    []string             `json:"args"`
	Pid     int                  `json:"pid"`
	Ppid    int                  `json:"ppid"`
	Pgid    int                  `json:"pgid"`
	Sid     int                  `json:"sid"`
	TtyNr   int                  `json:"tty_nr"`
	Nice    int                  `json:"nice"`
	UID     int                  `json:"uid"`
	EUID    int                  `json:"euid"`
	GID     int                  `json:"gid"`
	EGID    int                  `json:"egid"`
	Groups  []int                `json:"groups"`
	Env     []string             `json:"env"`
	Cwd     string               `json:"cwd"`
	Umask   string               `json:"umask"`
	Status  map[string]string    `json:"status"`
	Rlimits map[string][2]uint64 `json:"rlimits"`
	FDs     []FD                 `json:"fds"`
	Stdin   string               `json:"stdin,omitempty"`
	Errors  []string             `json:"errors,omitempty"`
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: handler MODE FD [ARG]")
	}
	mode := os.Args[1]
	fd := atoi(os.Args[2])
	switch mode {
	case "report", "report-stdin":
		r := collect()
		if mode == "report-stdin" {
			r.Stdin = readAll(0)
		}
		writeAll(fd, marshal(r))
	case "wait-accept":
		var out []byte
		if len(os.Args) > 3 && os.Args[3] == "report" {
			out = marshal(collect())
		} else {
			out = []byte(fmt.Sprintf("hello %d\n", os.Getpid()))
		}
		c := accept(fd)
		writeAll(c, out)
		unix.Close(c)
	case "wait-udp":
		var out []byte
		if len(os.Args) > 3 && os.Args[3] == "report" {
			out = marshal(collect())
		} else {
			out = []byte(fmt.Sprintf("hello %d", os.Getpid()))
		}
		buf := make([]byte, 65536)
		for {
			_, from, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				poll(fd)
				continue
			}
			if err != nil {
				fail("recvfrom: " + err.Error())
			}
			if err := unix.Sendto(fd, out, 0, from); err != nil {
				fail("sendto: " + err.Error())
			}
			break
		}
	case "udp-twice":
		writeAll(fd, []byte("first:"+readAll(0)))
		buf := make([]byte, 65536)
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				poll(fd)
				continue
			}
			if err != nil {
				fail("read: " + err.Error())
			}
			writeAll(fd, append([]byte("second:"), buf[:n]...))
			break
		}
	case "sleep", "ignore-term":
		if mode == "ignore-term" {
			signal.Ignore(syscall.SIGTERM)
		}
		secs := 60
		if len(os.Args) > 3 {
			secs = atoi(os.Args[3])
		}
		writeAll(fd, []byte(fmt.Sprintf("started %d\n", os.Getpid())))
		time.Sleep(time.Duration(secs) * time.Second)
	default:
		fail("unknown mode " + mode)
	}
}

func fail(msg string) {
	os.Stderr.WriteString("handler: " + msg + "\n")
	os.Exit(3)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fail("bad number " + s)
	}
	return n
}

func marshal(r *Report) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		fail(err.Error())
	}
	return append(b, '\n')
}

func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			pollOut(fd)
			continue
		}
		if err != nil {
			fail(fmt.Sprintf("write fd %d: %v", fd, err))
		}
		b = b[n:]
	}
}

func readAll(fd int) string {
	var sb strings.Builder
	buf := make([]byte, 65536)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			poll(fd)
			continue
		}
		if err != nil || n <= 0 {
			return sb.String()
		}
		sb.Write(buf[:n])
	}
}

func poll(fd int) {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	unix.Poll(p, 10000)
}

func pollOut(fd int) {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	unix.Poll(p, 10000)
}

func accept(lfd int) int {
	for {
		c, _, err := unix.Accept(lfd)
		if err == unix.EINTR || err == unix.ECONNABORTED {
			continue
		}
		if err == unix.EAGAIN {
			poll(lfd)
			continue
		}
		if err != nil {
			fail("accept: " + err.Error())
		}
		return c
	}
}

func collect() *Report {
	r := &Report{
		Args:    os.Args,
		Pid:     os.Getpid(),
		Ppid:    os.Getppid(),
		UID:     os.Getuid(),
		EUID:    os.Geteuid(),
		GID:     os.Getgid(),
		EGID:    os.Getegid(),
		Env:     os.Environ(),
		Status:  map[string]string{},
		Rlimits: map[string][2]uint64{},
		Groups:  []int{},
	}
	// Descriptors first, before anything else might open one.
	r.FDs = fds(r)
	if g, err := syscall.Getgroups(); err == nil {
		r.Groups = append(r.Groups, g...)
	} else {
		r.Errors = append(r.Errors, "getgroups: "+err.Error())
	}
	if wd, err := os.Getwd(); err == nil {
		r.Cwd = wd
	}
	stat := readFile("/proc/self/stat", r)
	if i := strings.LastIndexByte(stat, ')'); i >= 0 {
		f := strings.Fields(stat[i+1:])
		// f[0]=state(3) f[1]=ppid f[2]=pgrp f[3]=session f[4]=tty_nr ... f[16]=nice(19)
		if len(f) > 16 {
			r.Pgid, _ = strconv.Atoi(f[2])
			r.Sid, _ = strconv.Atoi(f[3])
			r.TtyNr, _ = strconv.Atoi(f[4])
			r.Nice, _ = strconv.Atoi(f[16])
		}
	}
	for _, line := range strings.Split(readFile("/proc/self/status", r), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch k {
		case "Umask", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs":
			r.Status[k] = strings.TrimSpace(v)
		}
	}
	r.Umask = r.Status["Umask"]
	for name, res := range map[string]int{
		"NOFILE": unix.RLIMIT_NOFILE,
		"AS":     unix.RLIMIT_AS,
		"CPU":    unix.RLIMIT_CPU,
		"NPROC":  unix.RLIMIT_NPROC,
		"CORE":   unix.RLIMIT_CORE,
	} {
		var rl unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &rl); err != nil {
			r.Errors = append(r.Errors, "prlimit: "+err.Error())
			continue
		}
		r.Rlimits[name] = [2]uint64{rl.Cur, rl.Max}
	}
	// The Go runtime raised its own soft NOFILE to the hard limit at start
	// and restores the value it was started with in its children: ask one.
	out, err := exec.Command("/bin/sh", "-c", "ulimit -Sn; ulimit -Hn").Output()
	if err != nil {
		r.Errors = append(r.Errors, "sh ulimit: "+err.Error())
	} else if f := strings.Fields(string(out)); len(f) == 2 {
		r.Rlimits["NOFILE_START"] = [2]uint64{ulimit(f[0]), ulimit(f[1])}
	}
	return r
}

func ulimit(s string) uint64 {
	if s == "unlimited" {
		return unix.RLIM_INFINITY
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func readFile(path string, r *Report) string {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		r.Errors = append(r.Errors, path+": "+err.Error())
		return ""
	}
	defer unix.Close(fd)
	return readAll(fd)
}

func fds(r *Report) []FD {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		r.Errors = append(r.Errors, "open /proc/self/fd: "+err.Error())
		return nil
	}
	defer unix.Close(dfd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.ReadDirent(dfd, buf)
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	var out []FD
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil || fd == dfd {
			continue
		}
		e := FD{FD: fd}
		e.Target, _ = os.Readlink("/proc/self/fd/" + name)
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			e.NonBlock = fl&unix.O_NONBLOCK != 0
		}
		if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil {
			e.IsSocket = true
			e.SockType = t
			e.SockDomain, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
			if a, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil {
				e.Listening = a != 0
			}
			if sa, err := unix.Getsockname(fd); err == nil {
				e.Local = sockaddr(sa)
			}
			if sa, err := unix.Getpeername(fd); err == nil {
				e.Peer = sockaddr(sa)
			}
		}
		out = append(out, e)
	}
	return out
}

func sockaddr(sa unix.Sockaddr) string {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		if sa.Name == "" {
			return "@unnamed"
		}
		return sa.Name
	}
	return fmt.Sprintf("%T", sa)
}

package spawner_test

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/superd-dev/superd/spawner"
)

func Example() {
	exe, _ := os.Executable()
	s, err := spawner.New(spawner.Options{HelperPath: exe, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	spec := &spawner.Spec{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 3"}, Umask: -1, Timeout: time.Minute, Service: "demo"}
	done := make(chan spawner.Exit, 1)
	if _, err := s.Start(spec, spawner.Files{Stdin: -1, Stdout: -1, Extra: -1, Stderr: spawner.StderrLog}, "127.0.0.1:4000",
		func(e spawner.Exit) { done <- e }); err != nil {
		fmt.Println(err)
		return
	}
	e := <-done
	fmt.Println("exit status", e.Status.ExitStatus(), "timed out", e.TimedOut)
	s.TerminateAll(time.Second, time.Second)
	// Output: exit status 3 timed out false
}

package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// JSON forms for `superd check -json`: durations, rates, windows, modes and
// addresses as the strings a configuration file uses.

// MarshalJSON writes the location as its name.
func (c Config) MarshalJSON() ([]byte, error) {
	type alias Config
	loc := ""
	if c.Location != nil {
		loc = c.Location.String()
	}
	return json.Marshal(struct {
		alias
		Location string `json:"location"`
	}{alias(c), loc})
}

// MarshalJSON writes durations as strings ("10s").
func (d Daemon) MarshalJSON() ([]byte, error) {
	type alias Daemon
	return json.Marshal(struct {
		alias
		ShutdownGrace string `json:"shutdown_grace"`
		KillDelay     string `json:"kill_delay"`
	}{alias(d), d.ShutdownGrace.String(), d.KillDelay.String()})
}

// MarshalJSON writes addresses as strings, env as an object and umask in
// octal.
func (s Service) MarshalJSON() ([]byte, error) {
	type alias Service
	listen := make([]string, len(s.Listen))
	for i, a := range s.Listen {
		listen[i] = a.String()
	}
	env := make(map[string]string, len(s.Env))
	for _, e := range s.Env {
		env[e[0]] = e[1]
	}
	umask := ""
	if s.Builtin == "" {
		umask = fmt.Sprintf("%04o", s.Umask)
	}
	return json.Marshal(struct {
		alias
		Listen []string          `json:"listen"`
		Env    map[string]string `json:"env"`
		Umask  string            `json:"umask,omitempty"`
	}{alias(s), listen, env, umask})
}

// MarshalJSON writes the mode in octal.
func (so Socket) MarshalJSON() ([]byte, error) {
	type alias Socket
	mode := ""
	if so.Mode != 0 {
		mode = fmt.Sprintf("%04o", uint32(so.Mode.Perm()))
	}
	return json.Marshal(struct {
		alias
		Mode string `json:"mode,omitempty"`
	}{alias(so), mode})
}

// MarshalJSON writes time windows as "HH:MM-HH:MM".
func (a Access) MarshalJSON() ([]byte, error) {
	type alias Access
	times := make([]string, len(a.Times))
	for i, w := range a.Times {
		times[i] = w.String()
	}
	return json.Marshal(struct {
		alias
		Times []string `json:"times"`
	}{alias(a), times})
}

// MarshalJSON writes rates as "N/s" ("" when off) and the timeout as a
// duration string ("" when none).
func (l Limits) MarshalJSON() ([]byte, error) {
	type alias Limits
	str := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	rate, perSource := "", ""
	if l.Rate.On() {
		rate = l.Rate.String()
	}
	if l.PerSourceRate.On() {
		perSource = l.PerSourceRate.String()
	}
	return json.Marshal(struct {
		alias
		Rate          string `json:"rate"`
		PerSourceRate string `json:"per_source_rate"`
		Timeout       string `json:"timeout"`
	}{alias(l), rate, perSource, str(l.Timeout)})
}

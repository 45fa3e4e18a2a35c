package convert

import (
	"strconv"
	"strings"
)

// Services is a parsed services(5) file. The zero value knows no names.
type Services struct {
	ports map[string]int // "name/proto" -> port, aliases included; first entry wins
}

// ParseServices reads services(5) text: "name port/proto [aliases...] [# comment]".
// Malformed lines are skipped, as getservbyname(3) does.
func ParseServices(data []byte) *Services {
	s := &Services{ports: make(map[string]int)}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto == "" {
			continue
		}
		port, err := strconv.Atoi(num)
		if err != nil || port < 0 || port > 65535 {
			continue
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			key := name + "/" + proto
			if _, dup := s.ports[key]; !dup {
				s.ports[key] = port
			}
		}
	}
	return s
}

// LookupPort returns the port of name for proto ("tcp" or "udp").
func (s *Services) LookupPort(name, proto string) (int, bool) {
	if s == nil || s.ports == nil {
		return 0, false
	}
	p, ok := s.ports[name+"/"+proto]
	return p, ok
}

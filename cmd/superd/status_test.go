package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFetchStatusNotSuperd checks that status does not take another
// program's metrics, or a redirect, for superd's.
func TestFetchStatusNotSuperd(t *testing.T) {
	superd := "# TYPE superd_config_last_reload_successful gauge\nsuperd_config_last_reload_successful 1\n" +
		"# TYPE superd_handlers_active gauge\nsuperd_handlers_active{service=\"echo\"} 2\n"
	mux := http.NewServeMux()
	mux.HandleFunc("/other/metrics", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(superd)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		name, body string
		redirect   bool
		wantErr    string
	}{
		{"superd", superd, false, ""},
		{"other program", "# TYPE foo gauge\nfoo 1\n", false, "not a superd metrics endpoint"},
		{"empty", "", false, "not a superd metrics endpoint"},
		{"redirect", "", true, "302"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
				if tc.redirect {
					http.Redirect(w, r, srv.URL+"/other/metrics", http.StatusFound)
					return
				}
				w.Write([]byte(tc.body))
			})
			s := httptest.NewServer(mux)
			defer s.Close()
			rows, err := fetchStatus(strings.TrimPrefix(s.URL, "http://"))
			if tc.wantErr == "" {
				if err != nil || len(rows) != 1 || rows[0].Service != "echo" || rows[0].Running != 2 {
					t.Errorf("fetchStatus = %+v, %v; want echo with 2 running", rows, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("fetchStatus = %+v, %v; want an error with %q", rows, err, tc.wantErr)
			}
		})
	}
}

func TestTableCells(t *testing.T) {
	if got := cell("a\nb\x1b[31m"); got != `a\nb\x1b[31m` {
		t.Errorf("cell = %q", got)
	}
	if got := cell("plain-name"); got != "plain-name" {
		t.Errorf("cell(plain) = %q", got)
	}
	if got := argvCell([]string{"/bin/cat", "-n", `"quoted`, `arg"`, "two words", ""}); got != `/bin/cat -n "\"quoted" "arg\"" "two words" ""` {
		t.Errorf("argvCell = %s", got)
	}
}

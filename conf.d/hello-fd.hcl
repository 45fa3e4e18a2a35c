# pass = "fd": the connection arrives as fd 3 with LISTEN_FDS=1,
# LISTEN_PID and LISTEN_FDNAMES set, as systemd socket activation does.
service "hello-fd" {
  listen  = ["127.0.0.1:7079"]
  pass    = "fd"
  command = ["/bin/sh", "-c", "printf 'hello %s from %s (LISTEN_FDNAMES=%s)\\n' \"$REMOTE_ADDR\" \"$SUPERD_SERVICE\" \"$LISTEN_FDNAMES\" >&3"]
  umask   = "0077"
}

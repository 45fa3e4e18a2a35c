# TCP echo through /bin/cat: the connection is the handler's stdin and stdout.
service "echo" {
  protocol = "tcp"
  listen   = ["127.0.0.1:7007", "[::1]:7007"]
  command  = ["/bin/cat"]

  socket {
    nodelay = true
  }

  access {
    allow = ["127.0.0.0/8", "::1"]
  }

  limits {
    per_source      = 8
    per_source_rate = "20/s"
  }
}

# The same over UDP: each datagram starts /bin/cat with the payload on
# stdin; what it writes goes back as one reply datagram.
service "echo-udp" {
  protocol = "udp"
  listen   = ["127.0.0.1:7007"]
  command  = ["/bin/cat"]
  limits {
    rate = "100/s"
  }
}

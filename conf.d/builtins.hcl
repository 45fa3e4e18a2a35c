# Builtin services run inside superd, without a fork, under the same
# access rules and limits as any other service.
service "chargen" {
  listen  = ["127.0.0.1:7019"]
  builtin = "chargen"
  limits {
    instances = 4
    timeout   = "30s"
  }
}

service "time-udp" {
  protocol = "udp"
  listen   = ["127.0.0.1:7037"]
  builtin  = "time"
}

# Disabled services are parsed and checked, never bound.
service "discard" {
  listen   = ["127.0.0.1:7009"]
  builtin  = "discard"
  disabled = true
}

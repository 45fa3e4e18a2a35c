# Daemon-wide settings and defaults for the example services.
# These examples listen on unprivileged loopback ports so that
# `superd run -config conf.d` works for any user.

daemon {
  metrics_listen = "127.0.0.1:9637"
  log_format     = "text"
  log_level      = "info"
  shutdown_grace = "10s"
  kill_delay     = "5s"
}

defaults {
  # Used when superd runs as root; an unprivileged superd runs handlers
  # as its own user and says so once per service.
  user = "nobody"

  limits {
    instances = 64
    timeout   = "10m"
  }
}

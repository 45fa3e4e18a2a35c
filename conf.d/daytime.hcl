# A daytime-like service: /bin/date writes the time and exits.
service "daytime" {
  listen  = ["127.0.0.1:7013"]
  command = ["/bin/date", "-R"]
  env     = { LANG = "C" }
  pass_env = ["TZ"]
}

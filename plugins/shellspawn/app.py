"""shellspawn: flags a shell started by a network service, the classic sign
of a web shell or an exploited daemon (Falco's "shell spawned by an untrusted
program" idea). Probe: process.exec.

Config: `services` (command names of network services), `shells`.
"""

from wasmtrace import Counter, Plugin, events, finding

SHELLS = ["sh", "bash", "dash", "zsh", "ksh", "ash", "fish", "busybox"]
SERVICES = ["nginx", "apache2", "httpd", "lighttpd", "php-fpm", "sshd", "postgres", "mysqld", "mariadbd",
            "redis-server", "memcached", "node", "java", "tomcat", "gunicorn", "uwsgi", "vsftpd", "named"]


class WitWorld(Plugin):
    probes = ["process.exec"]

    def setup(self, config):
        self.services = set(config.texts("services", SERVICES))
        self.shells = set(config.texts("shells", SHELLS))
        self.spawned = Counter("shells_spawned", ["service", "shell"])

    def on_event(self, event):
        body = event.body
        if not isinstance(body, events.Body_ProcessExec) or body.value.ret != 0:
            return
        e = body.value
        shell = event.text(e.filename).rsplit("/", 1)[-1]
        service = event.text(e.caller_comm)
        if shell not in self.shells or service not in self.services:
            return
        self.spawned.add([service, shell])
        h = event.header
        finding("high", "shell-from-network-service", f"{service} started a shell: {' '.join(event.texts(e.argv))}",
                service=service, shell=shell, pid=h.pid, ppid=h.ppid, uid=h.uid)

"""{{name}}: counts file opens per command (@opens[comm]). Make it yours."""

from wasmtrace import Counter, Plugin, events


class WitWorld(Plugin):
    probes = ["file.open"]

    def setup(self, config):
        self.opens = Counter("opens", ["comm"])

    def on_event(self, event):
        if isinstance(event.body, events.Body_FileOpen):
            self.opens.add([event.header.comm])

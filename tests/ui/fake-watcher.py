#!/usr/bin/python3
# fake-watcher.py: a stand-in org.kde.StatusNotifierWatcher on the session bus,
# so the tray can be tested over D-Bus without a panel.
#
# It owns org.kde.StatusNotifierWatcher, exports /StatusNotifierWatcher and
# prints one line per event on stdout (flushed):
#   READY <own unique name>
#   REGISTERED <bus name> <object path>
#   UNREGISTERED <bus name> <object path>
#   HOST <bus name>
# Ayatana passes an object path to RegisterStatusNotifierItem, KDE apps a bus
# name; either way the item is identified by sender + path.  Items are dropped
# when their owner leaves the bus.  It exits on SIGTERM/SIGINT or when stdin
# closes, so a test that dies cannot leave it behind.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import signal
import sys

from gi.repository import Gio, GLib

WATCHER_XML = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <method name="RegisterStatusNotifierItem">
      <arg name="service" type="s" direction="in"/>
    </method>
    <method name="RegisterStatusNotifierHost">
      <arg name="service" type="s" direction="in"/>
    </method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
    <signal name="StatusNotifierHostUnregistered"/>
  </interface>
</node>
"""

IFACE = "org.kde.StatusNotifierWatcher"
PATH = "/StatusNotifierWatcher"
ITEM_PATH = "/StatusNotifierItem"


def say(*words):
    try:
        print(*words, flush=True)
    except BrokenPipeError:
        pass                       # the reader is gone; keep serving the bus


class Watcher:
    def __init__(self, loop):
        self.loop = loop
        self.conn = None
        self.items = []            # [(bus name, object path)], in order
        self.watches = {}          # bus name -> g_bus_watch_name id

    def key(self, item):
        return item[0] + item[1]   # KDE style: ":1.5/org/ayatana/…"

    def emit(self, name, *args):
        self.conn.emit_signal(None, PATH, IFACE, name,
                              GLib.Variant("(s)", args) if args else None)

    def owner_vanished(self, conn, name):
        for item in [i for i in self.items if i[0] == name]:
            self.items.remove(item)
            say("UNREGISTERED", item[0], item[1])
            self.emit("StatusNotifierItemUnregistered", self.key(item))
        watch = self.watches.pop(name, None)
        if watch is not None:
            Gio.bus_unwatch_name(watch)

    def follow(self, name):
        if name not in self.watches:
            self.watches[name] = Gio.bus_watch_name_on_connection(
                self.conn, name, Gio.BusNameWatcherFlags.NONE,
                None, self.owner_vanished)

    def method_call(self, conn, sender, path, iface, method, params, invocation):
        service = params.unpack()[0]
        if method == "RegisterStatusNotifierItem":
            if service.startswith("/"):
                item = (sender, service)
            else:
                item = (service, ITEM_PATH)
            if item not in self.items:
                self.items.append(item)
                self.follow(item[0])
                say("REGISTERED", item[0], item[1])
                self.emit("StatusNotifierItemRegistered", self.key(item))
            invocation.return_value(None)
        elif method == "RegisterStatusNotifierHost":
            say("HOST", service)
            self.emit("StatusNotifierHostRegistered")
            invocation.return_value(None)
        else:
            invocation.return_dbus_error("org.freedesktop.DBus.Error.UnknownMethod",
                                         method)

    def get_property(self, conn, sender, path, iface, name):
        if name == "RegisteredStatusNotifierItems":
            return GLib.Variant("as", [self.key(i) for i in self.items])
        if name == "IsStatusNotifierHostRegistered":
            return GLib.Variant("b", True)
        if name == "ProtocolVersion":
            return GLib.Variant("i", 0)
        return None

    def bus_acquired(self, conn, name):
        self.conn = conn
        info = Gio.DBusNodeInfo.new_for_xml(WATCHER_XML).interfaces[0]
        conn.register_object(PATH, info, self.method_call, self.get_property, None)

    def name_acquired(self, conn, name):
        say("READY", conn.get_unique_name())

    def name_lost(self, conn, name):
        say("LOST", name)
        self.loop.quit()


def main():
    loop = GLib.MainLoop()
    watcher = Watcher(loop)
    Gio.bus_own_name(Gio.BusType.SESSION, "org.kde.StatusNotifierWatcher",
                     Gio.BusNameOwnerFlags.DO_NOT_QUEUE,
                     watcher.bus_acquired, watcher.name_acquired, watcher.name_lost)
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.HUP | GLib.IOCondition.IN | GLib.IOCondition.ERR,
                      lambda *a: stdin_ready(loop))
    loop.run()
    return 0


def stdin_ready(loop):
    # EOF (or error) on stdin: whoever started us is gone.
    try:
        data = sys.stdin.buffer.raw.read(4096)
    except OSError:
        data = b""
    if not data:
        loop.quit()
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())

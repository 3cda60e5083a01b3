#!/bin/sh
# bearerbox, then the fake SMSC (its log is the "phones"), then smsbox in the foreground.
/usr/sbin/bearerbox /etc/kannel/kannel.conf &
sleep 2
/usr/lib/kannel/test/fakesmsc -H 127.0.0.1 -r 10000 -m 0 "1 2 text x" &
exec /usr/sbin/smsbox /etc/kannel/kannel.conf

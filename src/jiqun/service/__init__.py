"""Service (S1, S2, R2): every parcel tracked, exceptions found before the customer calls, the
proactive service queue (主动客服), problems escalated until solved, warehousing customers, and
the scheduled jobs that keep the system alive without anyone typing a command.

- ``tracking``    tracking events → one state per parcel, reasons by who is responsible; timelines
- ``legs``        expected time of each leg and dwell, learned from history (percentiles)
- ``exceptions``  detection over the events: stalled, late, missing scans, returns, lockers
- ``clock``       working-hours deadlines, paused while waiting on others
- ``cases``       the service queue: exceptions grouped into cases, owners, deadlines, contacts
- ``problems``    problems raised, escalated by their clocks, merged into common problems, solved
- ``warehousing`` warehouses (仓配一体, 源头仓) and the merchants for whom one would pay
- ``jobs``        the scheduled jobs, their runs and leases, the scheduler
"""

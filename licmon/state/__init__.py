"""What the fleet keeps in Redis (the broker's Redis, beside Celery's queues).

One module per piece, each with its keys:
- `fleet.py`    `licmon:fleet:<kind>:<site>`: a site's last check, one small hash each;
- `lease.py`    `licmon:beat:lease`: which beat leads, renewed while it lives;
- `pending.py`  `licmon:pending:<kind>:<site>`: the one check of a site waiting in its queue,
                and `licmon:beat:ticks`: the last tick beat sent of each schedule entry;
- `queues.py`   the fetch queues' names, and what sits in them (read, never written).
"""

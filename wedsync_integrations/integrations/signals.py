"""Signals the kernel sends so other families (alerts) can react to integration trouble
without the kernel knowing about them. Sent with send_robust: a failing receiver never
breaks delivery bookkeeping.

    config_stopped(sender=Family, config, reason)           bad credentials / unsafe URL
    delivery_dead(sender=Family, item, error)                an outbox item gave up
    delivery_failed(sender=Family, item, error, attempts)    one attempt failed, will retry
"""

from django.dispatch import Signal

config_stopped = Signal()
delivery_dead = Signal()
delivery_failed = Signal()

"""A booking's life and money: the one place a coaching appointment is priced, held, paid,
cancelled and refunded.

- `pricing`: the quote (list price, member discount, platform fee, coach's share, currency).
- `hold`: open slots, holding one for a mentee, starting Checkout, reading bookings.
- `fulfilment`: a paid booking fulfilled once, from the return page or the webhook.
- `saved_card`: paying a held booking with the mentee's default card.
- `cancellation`: cancelling, and refunds; mentee, coach and admin use the same functions.
- `links`: the Checkout return and cancel links, and the cancel link's token.

Blueprints (`coaches`, `billing`, `admin`) call these services and never each other. Services
add and flush; the view or the webhook runner commits.
"""

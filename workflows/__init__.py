"""Pure domain of guestwork: the case state machine, its records, guards and history rules."""

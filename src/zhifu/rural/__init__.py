"""Rural finance (§二.1, §二.4): Class II/III e-accounts, farm-produce purchase payouts, farmers' harvest cards,
village service points and agri shop fronts."""

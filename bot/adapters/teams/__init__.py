"""The Teams edge: the only package that imports botbuilder. Moving to the Microsoft 365
Agents SDK means replacing this package; the service layer sees only plain values."""

"""Cases: investigations opened by decisions, worked by analysts, resolved into labels."""

"""Decisions: the policy that turns scores and rule hits into an outcome (`policy`), and the
decision record that is answered, stored and published (`model`)."""

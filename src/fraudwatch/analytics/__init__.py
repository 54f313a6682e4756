"""What the investigator dashboard reads: decisions with their transactions, timelines, and
aggregates kept fast by hourly rollups that a projector maintains off the scoring path."""

"""API endpoints of activities beyond the generic ones: completion, reminders, my day, notifications, timelines."""

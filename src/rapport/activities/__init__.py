"""Activities: tasks, calls, meetings and notes, linked to any people, companies and deals."""

"""The studyroom server: REST set-up and reports, live WebSocket rooms, the tutor."""

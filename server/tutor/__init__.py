"""The tutor: model providers, what the tutor knows, and turns streamed into the room."""

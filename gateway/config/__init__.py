"""The configuration: pydantic models validated at the edge, the loader with located errors."""

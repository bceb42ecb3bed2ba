from dataclasses import dataclass

from router.routes import Route


@dataclass
class Response:
    status: int
    body: str


class Router:
    def __init__(self):
        self.routes = []

    def __repr__(self):
        return f"Router(routes={len(self.routes)})"

    def add(self, method, pattern, handler):
        self.routes.append(Route(method, pattern, handler))

    def route(self, method, pattern):
        def register(handler):
            self.add(method, pattern, handler)
            return handler

        return register

    def dispatch(self, method, path):
        for route in self.routes:
            params = route.match(method, path)
            if params is not None:
                return Response(200, route.handler(**params))
        return Response(404, "not found")

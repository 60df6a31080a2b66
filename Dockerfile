# Builds the single standing binary (pure Go: the embedded SQLite needs no cgo).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/standing ./cmd/standing

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/standing /usr/local/bin/standing
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/standing"]

# Build a static binary, then copy it alone into a distroless image that runs
# as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
      -o /out/mde_exporter .

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="mde_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Microsoft Defender for Endpoint security-baseline compliance" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/mde_exporter /bin/mde_exporter
USER nonroot:nonroot
EXPOSE 10125
ENTRYPOINT ["/bin/mde_exporter"]

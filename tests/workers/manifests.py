"""The vulnerable manifest the worker end-to-end tests fix: a Deployment whose container is privileged."""

PRIVILEGED_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: nginx:1.25
          securityContext:
            privileged: true
"""

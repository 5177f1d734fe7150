resource "aws_lb" "web" {
  name               = "web"
  load_balancer_type = "application"
  subnets            = ["subnet-1", "subnet-2"]

  access_logs {
    bucket = aws_s3_bucket.lb_logs.id
    prefix = "web"

    enabled = true
  }
}

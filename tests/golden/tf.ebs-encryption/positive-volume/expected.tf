resource "aws_ebs_volume" "data" {
  availability_zone = "us-west-2a"
  size              = 40
  encrypted         = true
}

resource "aws_launch_configuration" "lc" {
  image_id      = "ami-123"
  instance_type = "t3.micro"
}

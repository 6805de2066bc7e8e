;;;; Stress: interrupts to threads that are ending. Each target does a
;;;; little work and ends; its exit path (an UNWIND-PROTECT cleanup) conses.
;;;; Meanwhile the main thread sends it, at random moments from its start to
;;;; well after its end, interrupts whose function runs inside
;;;; WITHOUT-INTERRUPTS, interrupts without it, and TERMINATE-THREAD (so a
;;;; termination can land in the work, in the consing cleanup, in the
;;;; runtime's exit code or after the end); a collector thread collects
;;;; garbage every few milliseconds. Two targets are alive at a time, and
;;;; each is waited for by polling THREAD-ALIVE-P.
;;;; For SBCL_TEST_ARGS seconds (default 10); exits 104 when no thread had
;;;; an error (common.lisp: STRESS-FINISH).

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *seconds* (test-arg 10))
(defvar *running* t)

(defun target (work cleanup)
  (stress-lambda ("target")
    (unwind-protect
         (let ((x 0))
           (dotimes (i work) (setf x (logxor x i)))
           x)
      (cons-strings cleanup))))

(defun collector (count)
  (stress-lambda ("collector")
    (loop while *running*
          do (sb-ext:gc)
             (incf (car count))
             (sleep (/ (+ 1 (random 4)) 1000.0)))))

(defun pause ()
  "Nothing, a yield-sized sleep, or a spin of random length."
  (case (random 3)
    (0 nil)
    (1 (sleep 0.0001))
    (2 (let ((x 0)) (dotimes (i (random 20000)) (setf x (logxor x i))) x))))

(let* ((start (get-internal-real-time))
       (deadline (stress-deadline *seconds*))
       (gcs (list 0))
       (collector (sb-thread:make-thread (collector gcs) :name "collector"))
       (counts (list (list :threads 0 :terminations 0 :accepted 0 :refused 0))))
  (with-stress-errors ("main thread")
    (loop while (stress-time-left-p deadline)
          do (let ((pair (loop repeat 2
                               collect (sb-thread:make-thread
                                        (target (random 30000) (+ 50 (random 500)))
                                        :name "target"))))
               (incf (getf (car counts) :threads) 2)
               (dotimes (k (+ 2 (random 5)))
                 (pause)
                 (let ((th (nth (random 2) pair)))
                   (case (random 4)
                     (0 (try-interrupt th (lambda () (sb-sys:without-interrupts (cons-strings 30))) counts))
                     (1 (try-interrupt th (lambda () (cons-strings 30)) counts))
                     (2 (try-interrupt th (lambda () (sb-sys:without-interrupts nil)) counts))
                     (3 (when (try-interrupt th #'sb-ext:quit counts)
                          (incf (getf (car counts) :terminations)))))))
               (mapc (lambda (th) (wait-polling th 0.0002)) pair))))
  (setf *running* nil)
  (wait-polling collector)
  (stress-finish "exit" start (list* :gcs (car gcs) (car counts))))
